"""``python -m iko_gateway.auth``: a new random API key, and the hash to put in the keys file."""

from iko_gateway.auth.api_keys import new_api_key

if __name__ == "__main__":
    key, key_hash = new_api_key()
    print(f"key (give to the client):          {key}")
    print(f"key_sha256 (put in the keys file): {key_hash}")
