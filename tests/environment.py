import os

# The suite runs on the embedded default unless DATABASE_URL / REDIS_URL are set; it needs a
# secret key like any non-debug start.
os.environ.setdefault("SECRET_KEY", "test-suite-secret-key-not-for-production")
# Templates resolve static names without a manifest: the suite never runs collectstatic.
os.environ.setdefault("STATIC_MANIFEST", "false")
