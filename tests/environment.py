import os

# The suite runs on the embedded default unless DATABASE_URL / REDIS_URL are set; it needs a
# secret key like any non-debug start.
os.environ.setdefault("SECRET_KEY", "test-suite-secret-key-not-for-production")
