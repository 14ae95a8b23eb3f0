package verify

// Op is one of the three operations on a verification. Inside verify-proxy each has one name, the
// Provider method's (start, check, cancel), which metrics and upstream traces use; the contract names
// the start by its route, /request, and so do the logs' "op" attributes (see Route).
type Op int

// The operations. Only a start sends a code, so only a start costs money.
const (
	OpStart Op = iota
	OpCheck
	OpCancel
)

// Ops are every operation, in the order of a verification.
var Ops = []Op{OpStart, OpCheck, OpCancel}

func (o Op) String() string {
	switch o {
	case OpStart:
		return "start"
	case OpCheck:
		return "check"
	case OpCancel:
		return "cancel"
	}
	return "unknown"
}

// Route is the contract's path for o: "/request", "/check" or "/cancel".
func (o Op) Route() string {
	if o == OpStart {
		return "/request"
	}
	return "/" + o.String()
}
