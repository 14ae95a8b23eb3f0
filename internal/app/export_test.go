package app

// ClosedByServer is closedByServer, for the tests that run the whole app from outside.
var ClosedByServer = closedByServer
