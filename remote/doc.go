// Package remote reads a JSON Web Key Set (JWKS) from a URL, to verify
// tokens that another service signs: PowerSync tokens minted by another
// backend, or the access tokens of a Supabase project (package
// [github.com/powersync-jwks/jwks/supabase] reads the project's JWKS with it).
//
// Build one [KeySet] per URL at start-up, with a context that lives as long
// as the key set is used, and give it to [jwks.NewVerifier]:
//
//	keys, err := remote.New(ctx, "https://auth.example.com/.well-known/jwks.json")
//	if err != nil {
//		log.Fatal(err) // a bad URL or option: the server is not asked yet
//	}
//	verifier, err := jwks.NewVerifier(keys, "https://abc123.powersync.journeyapps.com")
//	if err != nil {
//		log.Fatal(err)
//	}
//	...
//	claims, err := verifier.Verify(r.Context(), token)
//
// [New] does not wait for the server (containers start in any order): the
// first fetch begins in the background, and a token that comes before it is
// over waits for it. When ctx is done, the background refresh stops.
//
// # Caching
//
// A KeySet keeps the last good key set in memory and refreshes it in the
// background, every 5 minutes or as the response's Cache-Control max-age
// says ([WithRefreshInterval], [WithMaxAgeBounds]), with conditional
// requests (If-None-Match): a 304 Not Modified keeps the set and counts as a
// good fetch. A token naming a key ID the set does not hold makes it fetch
// again, once for every token waiting, and at a limited rate
// ([WithUnknownKeyRefetch]): a key the server has just published is found
// at once, and tokens naming random key IDs cannot flood the server.
//
// A good fetch replaces the set whole: a key removed from the document stops
// verifying. When a fetch fails, the last good set stays in use for up to an
// hour after the last good fetch ([WithMaxStaleness]); beyond that, and
// before the first good fetch, lookups fail with [jwks.ErrUnavailable], which
// the handlers of package jwks answer with 503.
//
// A token naming a key ID the set lacks, whose refetch fails (the server
// cannot be reached, answers 5xx, or the wait ends first), gets an error
// wrapping [jwks.ErrUnavailable], not [jwks.ErrUnknownKey]: the server may
// have published the key, so the caller is to try again (503), not be
// refused (401).
//
// # Observing
//
// [WithObserver] has a function told of every fetch (a [FetchEvent]: loaded,
// not modified or failed, how long it took, how many keys the set holds),
// to count into the host's metrics; the package imports no metrics library.
// [KeySet.LastFetch] is zero until the first good fetch, which makes a
// readiness check:
//
//	ready := !keys.LastFetch().IsZero()
//
// # What is refused
//
// Documents that are not a JSON object with a "keys" array, that are larger
// than 1 MiB ([WithMaxDocumentSize]), whose "keys" array holds more than
// 1000 entries ([MaxDocumentEntries]: a real issuer publishes a handful), or
// that come with a status other than 2xx are refused, and the last good set
// kept. A redirect is such a status:
// none is followed, so that a JWKS URL cannot hand its keys over to another
// host or from https to http; [WithSameOriginRedirects] follows those that
// stay on the URL's scheme, host and port. The caller's [http.Client] is
// not changed: the key set uses a copy with its own CheckRedirect. Keys within a document that
// cannot be used are skipped and logged, and the others kept: keys carrying
// private or symmetric material, oct keys, keys with "use" other than "sig"
// or "key_ops" without "verify", keys without a "kid", keys that
// [jwks.ParseKey] refuses, and every key whose kid is shared by another
// entry (which one is meant is ambiguous). Skipped keys are logged once for
// each document that is not the last good one again, the first five one by
// one and the others counted. Logs name the URL, key IDs and reasons, never
// key material ([WithLogger]). [ParseDocument] reads a
// document the same way, to check one before publishing it or to tell why a
// key is not used.
package remote
