"""Run on the controller: the official `ollama` Python client through nginx, with and without the token.

Usage: client_check.py BASE_URL TOKEN MODEL. Prints one JSON object.
"""

import json
import sys

import ollama


def main() -> int:
    base, token, model = sys.argv[1], sys.argv[2], sys.argv[3]
    client = ollama.Client(host=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    names = [m.model for m in client.list().models]
    chunks = list(client.chat(model=model, messages=[{"role": "user", "content": "Hi"}], stream=True))
    answer = client.generate(model=model, prompt="Hi", stream=False)
    shown = client.show(model)
    unauthorized = None
    try:
        ollama.Client(host=base, timeout=10).list()
    except ollama.ResponseError as exc:
        unauthorized = {"status": exc.status_code, "error": exc.error}
    print(
        json.dumps(
            {
                "models": names,
                "chat_chunks": len(chunks),
                "chat_done": bool(chunks and chunks[-1].done),
                "chat_text": "".join(c.message.content or "" for c in chunks),
                "generate_done": bool(answer.done),
                "generate_eval_count": answer.eval_count,
                "show_has_model_info": bool(shown.modelinfo),
                "unauthorized": unauthorized,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
