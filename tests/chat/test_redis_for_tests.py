"""The suite's Redis: the one configured, one it starts, or a sentence saying what is missing."""

from __future__ import annotations

import shutil

import pytest

from tests.support.servers import RedisMissing, _redis_answers, free_port, redis_for_tests


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_with_nothing_answering_a_redis_server_is_started_and_stopped() -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    with redis_for_tests(closed) as url:
        assert url != closed and _redis_answers(url)
    assert not _redis_answers(url)


def test_without_redis_or_redis_server_the_failure_says_to_install_it() -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    missing = redis_for_tests(closed, binary="no-such-redis-server")
    with pytest.raises(RedisMissing, match=r"apt-get install redis-server"), missing:
        pass
