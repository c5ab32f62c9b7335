// Package ratelimit limits how often each client may call an HTTP handler:
// one request every interval on average, with bursts of up to a given size,
// per client. It is made for endpoints that anyone may call, such as a
// token endpoint for anonymous users, and plugs into the token handler of
// package jwks through [github.com/powersync-jwks/jwks.WithRateLimit].
//
// # Usage
//
// Let each client IP have 10 tokens at once, then one a second:
//
//	limiter, err := ratelimit.New(time.Second, 10)
//	if err != nil {
//		log.Fatal(err)
//	}
//	h, err := jwks.NewTokenHandler(signer, jwks.Anonymous(), jwks.WithRateLimit(limiter))
//
// A request over the limit gets 429 Too Many Requests with a Retry-After
// header, before the authenticator is called. Anything else can call
// [Limiter.Allow] itself:
//
//	if ok, retryAfter := limiter.Allow(r); !ok {
//		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
//		http.Error(w, "slow down", http.StatusTooManyRequests)
//		return
//	}
//
// # Who is a client
//
// A client is the address the request came from (r.RemoteAddr): an IPv4
// address, or the /56 network of an IPv6 address, what an ISP usually hands
// one customer ([WithIPv6Prefix] changes it). Behind a load balancer or a
// CDN, every request comes from the proxy: name the proxies with
// [WithTrustedProxies], and the client is read from X-Forwarded-For, but
// only on requests that come from those proxies, so that no one else can
// choose their own bucket. [WithClientKey] keys clients by anything else,
// such as an API key.
//
// # Memory
//
// A [Limiter] forgets a client once its bucket has filled up again, and
// tracks at most [DefaultMaxClients] clients ([WithMaxClients]): beyond
// that, a new client replaces one picked at random, so memory stays bounded
// when many addresses call at once.
package ratelimit
