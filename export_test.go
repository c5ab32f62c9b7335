package jwks

// Test hooks for the external tests of package jwks_test.

// SetSignTurns sets how many signatures with in-process keys s makes at
// once. Call it before s is used.
func SetSignTurns(s *Signer, n int) { s.slots = make(chan struct{}, n) }

// TakeSignTurn takes one of s's turns to sign, as a signature in progress
// would, and returns the function that gives it back.
func TakeSignTurn(s *Signer) (giveBack func()) {
	s.slots <- struct{}{}
	return func() { <-s.slots }
}
