"""The package's names load on first use (the parser's worker process imports the package and
needs none of them; tests/knowledge/test_isolated_parsing.py checks what it loads)."""

from __future__ import annotations


def test_the_package_still_offers_its_names() -> None:
    import knowledge

    assert knowledge.KnowledgeBase.__name__ == "KnowledgeBase" and knowledge.Limits().embed_batch > 0
    try:
        knowledge.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("an unknown name must raise AttributeError")
