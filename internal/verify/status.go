package verify

// KindForStatus maps a non-zero Verify API (v1) status to the Kind of failure it is. The table is the
// Verify API's own (request, check and control statuses); an unknown status is KindRejected so that
// a status Vonage adds later still reaches the app as a refusal it can show.
func KindForStatus(status string) Kind {
	switch status {
	case "1":
		return KindThrottled
	case "2", "4", "5", "8", "9", "20", "29":
		return KindUpstreamError
	case "3":
		return KindInvalidParameter
	case "6", "101":
		return KindNotFound
	case "7":
		return KindNumberBlocked
	case "10":
		return KindConcurrentVerification
	case "15":
		return KindUnsupportedNetwork
	case "16":
		return KindCodeMismatch
	case "17":
		return KindTooManyAttempts
	case "19":
		return KindCancelNotAllowed
	}
	return KindRejected
}
