package com.github.verifyproxy.e2e

import com.nimbusds.jose.JWSAlgorithm
import com.nimbusds.jose.jwk.source.JWKSourceBuilder
import com.nimbusds.jose.proc.JWSVerificationKeySelector
import com.nimbusds.jose.proc.SecurityContext
import com.nimbusds.jwt.JWTClaimsSet
import com.nimbusds.jwt.proc.DefaultJWTClaimsVerifier
import com.nimbusds.jwt.proc.DefaultJWTProcessor
import java.net.URL

/**
 * An app's own backend as it verifies a `verification_token`: with Nimbus JOSE+JWT and nothing but the key
 * set that the server at [serverUrl] publishes, so that the app's word is never what proves the number.
 */
class AppBackend(serverUrl: String) {
    // One key source per server, as a backend keeps one: Nimbus caches the set and fetches it again
    // when a token names a kid it does not hold.
    private val keys = JWKSourceBuilder.create<SecurityContext>(URL("$serverUrl/.well-known/jwks.json")).build()

    /** The claims of [token] if it proves [number] for verification [requestId]; throws otherwise. */
    fun verify(token: String, number: String, requestId: String): JWTClaimsSet =
        processor(number, requestId).process(token, null)

    /**
     * The verifier for the number the backend expects: the algorithms the contract allows (the sandbox
     * signs ES256), the issuer, the number in both claims that carry it, and every claim a token has.
     */
    private fun processor(number: String, requestId: String) = DefaultJWTProcessor<SecurityContext>().apply {
        jwsKeySelector = JWSVerificationKeySelector(setOf(JWSAlgorithm.ES256, JWSAlgorithm.EdDSA, JWSAlgorithm.RS256), keys)
        jwtClaimsSetVerifier = DefaultJWTClaimsVerifier(
            JWTClaimsSet.Builder()
                .issuer("verify-proxy")
                .subject(number)
                .claim("phone_number", number)
                .claim("phone_number_verified", true)
                .claim("request_id", requestId)
                .build(),
            setOf("exp", "iat", "nbf", "jti"),
        )
    }
}
