#!/usr/bin/env python3
"""Verify a pdx entitlement token offline, as an operator's gateway does before serving a call.

pdx signs entitlement tokens (ES256 JWTs) and publishes its public keys at /.well-known/jwks.json. A gateway
fetches them once (PyJWKClient caches them, and fetches again when a token names a key it has not seen: after
`pdxctl signing-keys rotate`) and checks each token itself: the signature, the issuer (pdx), the audience (the
gateway's own party id: the seller the token is for) and the expiry. Nothing is asked of pdx per call.

    pip install "pyjwt[crypto]"
    verify_token.py --jwks-url http://127.0.0.1:8080/.well-known/jwks.json --audience <your party id> <token>

Prints the token's claims as JSON (ent: the entitlement, sub: the buyer, prd and ver: the product and version,
scn and pur: the scenario and purpose the buyer declared, exp) and exits 0; exits 1 with the reason otherwise.
A token outlives nothing: its entitlement may have been suspended or revoked since it was issued (it lives at
most an hour). A gateway that must know at once asks POST /v1/entitlements/verify instead.
"""
import argparse
import json
import sys

import jwt


def main() -> int:
    parser = argparse.ArgumentParser(description="Verify a pdx entitlement token offline.")
    parser.add_argument("--jwks-url", required=True, help="pdx's /.well-known/jwks.json")
    parser.add_argument("--audience", required=True, help="your party id (the seller the token is for)")
    parser.add_argument("token", help="the token the buyer presented (Authorization: Bearer <token>)")
    args = parser.parse_args()

    keys = jwt.PyJWKClient(args.jwks_url)
    try:
        key = keys.get_signing_key_from_jwt(args.token)
        claims = jwt.decode(args.token, key.key, algorithms=["ES256"], audience=args.audience, issuer="pdx",
                            options={"require": ["exp", "iat", "ent", "sub", "aud", "iss"]})
    except jwt.PyJWTError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 1
    print(json.dumps(claims, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
