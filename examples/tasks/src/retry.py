import time


def call_with_retry(call, attempts=3):
    """Call `call`, retrying on any error."""
    for attempt in range(attempts):
        try:
            return call()
        except Exception:
            time.sleep(2 ** attempt)
    return call()
