"""Device enrollment, refresh-token rotation and access-token (JWT) issue and verification."""
