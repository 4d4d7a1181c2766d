"""Which language each message is answered in, over the real WebSocket: the message's own language,
a language the person picked, the profile language by default, the conversation's for short replies."""

from __future__ import annotations

from testkit.wsclient import ChatClient

from .test_engine import engine_settings, shared_data  # noqa: F401  (fixtures)


async def test_each_message_in_its_language_a_pick_wins_short_replies_keep_the_conversation(
        engine_settings, llm_server, running_server, make_token):  # noqa: F811
    async with running_server(engine_settings(require_grounding=False)) as srv:
        client = ChatClient(srv.ws_url, make_token(lang="el"))  # the profile language: Greek
        await client.connect()
        asked: list[tuple[str, str]] = []
        for text, picked in [("ok", None),  # too short to tell: the profile language
                             ("Yazıcı dünden beri hiçbir şey yazdırmıyor", None),  # Turkish
                             ("ok", None),  # keeps the conversation's language
                             ("Yazıcı dünden beri hiçbir şey yazdırmıyor", "es")]:  # a picked language wins
            await client.ask(text, **({"lang": picked} if picked else {}))
            user = await client.until("user_message")
            await client.until("done")
            system = llm_server.llm.chat_requests()[-1]["messages"][0]["content"]
            asked.append((user["lang"], next(line for line in system.splitlines() if line.startswith("- Answer in"))))
        await client.close()
    assert asked == [("el", "- Answer in Greek."), ("tr", "- Answer in Turkish."), ("tr", "- Answer in Turkish."),
                     ("es", "- Answer in Spanish.")]
