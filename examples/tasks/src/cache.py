_cache = {}


def lookup(user_id, load):
    """The user's record, loaded once and kept for ever."""
    if user_id not in _cache:
        _cache[user_id] = load(user_id)
    return _cache[user_id]
