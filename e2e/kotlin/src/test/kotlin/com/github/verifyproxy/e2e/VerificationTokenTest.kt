package com.github.verifyproxy.e2e

import com.github.verifyproxy.client.apis.TokensApi
import com.github.verifyproxy.client.apis.VerificationApi
import com.github.verifyproxy.client.models.CheckRequest
import com.github.verifyproxy.client.models.JSONWebKey
import com.github.verifyproxy.client.models.VerificationRequest
import com.nimbusds.jose.JWSAlgorithm
import com.nimbusds.jose.jwk.source.JWKSourceBuilder
import com.nimbusds.jose.proc.BadJWSException
import com.nimbusds.jose.proc.JWSVerificationKeySelector
import com.nimbusds.jose.proc.SecurityContext
import com.nimbusds.jose.util.Base64URL
import com.nimbusds.jwt.JWTClaimsSet
import com.nimbusds.jwt.SignedJWT
import com.nimbusds.jwt.proc.DefaultJWTClaimsVerifier
import com.nimbusds.jwt.proc.DefaultJWTProcessor
import java.net.URL
import java.time.Duration
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/**
 * The `verification_token` of a right code, verified as an app's own backend does it: with Nimbus JOSE+JWT
 * and nothing but the server's published key set, so that the app's word is never what proves the number.
 */
class VerificationTokenTest {
    private val server = RunningServer.fromEnvironment()
    private val api = VerificationApi(server.baseUrl)

    // One key source for the class, as a backend keeps one: Nimbus caches the set and fetches it again
    // when a token names a kid it does not hold.
    private val keys = JWKSourceBuilder.create<SecurityContext>(URL("${server.baseUrl}/.well-known/jwks.json")).build()

    @Test
    fun `a right code answers a token that a backend verifies with the published keys alone`() {
        val number = "+14155550105" // E.164, as the token names it, whatever the format the app sent
        val started = api.requestVerification(VerificationRequest(number = "+1 (415) 555-0105"))
        val verified = api.checkVerification(
            CheckRequest(requestId = started.requestId, code = server.log.codeFor(started.requestId)),
        )
        val token = checkNotNull(verified.verificationToken) { "a right code must answer verification_token" }

        val claims = backend(number, started.requestId).process(token, null)
        assertEquals(Duration.ofMinutes(10), Duration.between(claims.issueTime.toInstant(), claims.expirationTime.toInstant()))

        // The same signature over another number: refused for the signature itself, since this backend
        // expects the other number and so has no claim to object to.
        val (header, payload, signature) = token.split('.')
        val forged = Base64URL.encode(Base64URL(payload).decodeToString().replace(number, "+14155550999"))
        assertThrows(BadJWSException::class.java) {
            backend("+14155550999", started.requestId).process("$header.$forged.$signature", null)
        }

        // The key set through the generated client, as the contract describes it: the signing key is there.
        // (The generator names the property `keys` propertyKeys, away from Kotlin's Map.keys.)
        val kid = SignedJWT.parse(token).header.keyID
        val published = TokensApi(server.baseUrl).getJSONWebKeySet().propertyKeys
        assertTrue(
            published.any { it.kty == JSONWebKey.Kty.EC && it.alg == JSONWebKey.Alg.ES256 && it.kid == kid },
            "no EC ES256 key with the token's kid $kid in $published",
        )
    }

    /**
     * A backend's verifier for the number it expects: the algorithms the contract allows (the sandbox
     * signs ES256), the issuer, the number in both claims that carry it, and every claim a token has.
     */
    private fun backend(number: String, requestId: String) = DefaultJWTProcessor<SecurityContext>().apply {
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
