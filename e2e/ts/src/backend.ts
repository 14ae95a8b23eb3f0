// An app's own backend as it verifies a verification_token in node: with jose and nothing but the key set
// the server publishes, so that the app's word is never what proves the number.
import assert from 'node:assert/strict';

import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';

/**
 * The key set a server publishes, fetched as a backend keeps it: jose caches it and fetches it again when
 * a token names a kid it does not hold.
 */
export function publishedKeys(serverUrl: string): ReturnType<typeof createRemoteJWKSet> {
  return createRemoteJWKSet(new URL('/.well-known/jwks.json', serverUrl));
}

// What every token must show a backend: the algorithms the contract allows (the sandbox signs ES256),
// the issuer, and every claim a token has.
export const verifyOptions: JWTVerifyOptions = {
  issuer: 'verify-proxy',
  algorithms: ['ES256', 'EdDSA', 'RS256'],
  requiredClaims: ['exp', 'iat', 'nbf', 'jti'],
};

/** The claims of a token that proves number (E.164) for verification requestId; rejects any other token. */
export async function verifyToken(
  token: string,
  keys: ReturnType<typeof createRemoteJWKSet>,
  number: string,
  requestId: string,
): Promise<JWTPayload> {
  const { payload, protectedHeader } = await jwtVerify(token, keys, { ...verifyOptions, subject: number });
  assert.equal(protectedHeader.alg, 'ES256');
  assert.equal(payload.phone_number, number);
  assert.equal(payload.phone_number_verified, true);
  assert.equal(payload.request_id, requestId);
  return payload;
}
