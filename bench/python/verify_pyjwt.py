"""Verify the exported access tokens with PyJWT, one core, and print verifications/s.

Usage: python verify_pyjwt.py DATA_DIR [SECONDS]
DATA_DIR holds tokens.txt, jwks.json and meta.json as written by `bench-tokens`.
The checks match ours as far as PyJWT allows: the algorithm pinned to ES256, the key from the
JWKS by kid, signature, iss, aud, exp and nbf with 10 s leeway, and the claims required.
PyJWT has no `typ` option; the header's typ is compared by hand (cheap: the header is decoded
anyway).
"""

import json
import sys
import time

import jwt


def main() -> None:
    data = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    with open(f"{data}/tokens.txt") as f:
        tokens = [line.strip() for line in f if line.strip()]
    with open(f"{data}/meta.json") as f:
        meta = json.load(f)
    with open(f"{data}/jwks.json") as f:
        jwks = jwt.PyJWKSet.from_dict(json.load(f))
    keys = {k.key_id: k.key for k in jwks.keys}

    def verify(token: str) -> None:
        header = jwt.get_unverified_header(token)
        if header.get("typ") != meta["typ"]:
            raise ValueError("typ")
        jwt.decode(
            token,
            keys[header["kid"]],
            algorithms=[meta["alg"]],
            audience=meta["audience"],
            issuer=meta["issuer"],
            leeway=10,
            options={"require": ["exp", "nbf", "iss", "aud", "sub"]},
        )

    for token in tokens:  # every token must pass before timing
        verify(token)
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for token in tokens:
            verify(token)
        done += len(tokens)
    elapsed = time.perf_counter() - started
    print(json.dumps({"library": f"PyJWT {jwt.__version__}", "python": sys.version.split()[0],
                      "verify_per_second": done / elapsed, "tokens": len(tokens)}))


if __name__ == "__main__":
    main()
