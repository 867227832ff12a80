from tests.support.chat import photo_bytes, answer_to
from tests.support.find import find_answer, wait_for_log, unique_id

def test_smoke(new_bot, tiny_clip, user_ids):
    tg, bot = new_bot(clip_model=tiny_clip)
    user = tg.user(next(user_ids), "Ann")
    chat = tg.private_chat(user)
    sent = [tg.send_message(chat, user, photo=photo_bytes(i)) for i in range(3)]
    req = tg.send_message(chat, user, text="/find red")
    ans = find_answer(tg, req)
    print(ans.text, ans.keys, ans.captions)
    print([unique_id(m) for m in sent])
    req = tg.send_message(chat, user, text="/find", reply_to=sent[0])
    ans = find_answer(tg, req)
    print(ans.text, ans.keys, ans.captions)
    print(bot.logs()[-3000:])
