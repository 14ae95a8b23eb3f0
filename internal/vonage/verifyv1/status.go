package verifyv1

import "github.com/verify-proxy/verify-proxy/internal/verify"

// kinds is Verify v1's status table (request, check and control statuses, spec 1.1.x/1.2.x): the kind
// of failure each non-zero status is. A status missing here, one that Vonage adds later, is
// verify.KindRejected, so that it still reaches the app as a refusal it can show.
var kinds = map[string]verify.Kind{
	verify.StatusThrottled:          verify.KindThrottled,
	verify.StatusMissingParameter:   verify.KindUpstreamError,
	verify.StatusInvalidParameter:   verify.KindInvalidParameter,
	verify.StatusInvalidCredentials: verify.KindUpstreamError,
	verify.StatusInternalError:      verify.KindUpstreamError,
	verify.StatusNotFound:           verify.KindNotFound,
	verify.StatusNumberBlocked:      verify.KindNumberBlocked,
	verify.StatusAccountBarred:      verify.KindUpstreamError,
	verify.StatusQuotaExceeded:      verify.KindUpstreamError,
	verify.StatusConcurrent:         verify.KindConcurrentVerification,
	verify.StatusUnsupportedNetwork: verify.KindUnsupportedNetwork,
	verify.StatusCodeMismatch:       verify.KindCodeMismatch,
	verify.StatusTooManyAttempts:    verify.KindTooManyAttempts,
	verify.StatusCancelNotAllowed:   verify.KindCancelNotAllowed,
	verify.StatusPinCodeUnsupported: verify.KindUpstreamError,
	verify.StatusNotPermitted:       verify.KindUpstreamError,
	verify.StatusNoResponse:         verify.KindNotFound,
}

// kindOf maps a non-zero Verify v1 status to the kind of failure it is.
func kindOf(status string) verify.Kind {
	if k, ok := kinds[status]; ok {
		return k
	}
	return verify.KindRejected
}
