"""schemathesis hooks for StatusAPITests: a tus chunk (application/offset+octet-stream) is raw bytes."""
import schemathesis
from hypothesis import strategies as st

schemathesis.openapi.media_type("application/offset+octet-stream", st.binary(max_size=4096))
