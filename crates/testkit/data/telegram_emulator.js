// The Telegram Bot API emulator for the channel tests: npm `telegram-test-api` (4.2.1), started on a free loopback
// port, with three changes that make it behave like the real Bot API where our tests depend on it:
//  - getUpdates honours `offset` (updates stay until a later call confirms them with a higher offset, as Telegram
//    does; the package marks them read as soon as they are returned, which would lose messages across a crash) and
//    `timeout` (a long poll);
//  - sendChatAction exists (the package answers 500 "not supported");
//  - a test can make sendMessage answer 429 with `retry_after` for one chat (POST /_test/ratelimit);
//  - editMessageText answers as Telegram does: "message to edit not found" for an id not in the chat, "message
//    can't be edited" for someone else's message, "message is not modified" for the text the message already has
//    (the package edits whatever it finds, or nothing, and always answers ok).
// Usage: node telegram_emulator.js <node_modules dir> <port>. Prints "ready <port>" once listening.
const path = require('path');
const modules = process.argv[2];
const port = Number(process.argv[3]);
const TelegramServer = require(path.join(modules, 'telegram-test-api'));
const express = require(path.join(modules, 'express'));

(async () => {
  const server = new TelegramServer({ port, host: '127.0.0.1', storeTimeout: 24 * 3600 });
  const inner = server.webServer;
  const outer = express();
  outer.use(express.json({ limit: '5mb' }));
  outer.use(express.urlencoded({ extended: true }));
  const limits = {};
  const typing = {};
  const limited = [];
  const edits = { modified: 0, notModified: 0, refused: 0 };
  let stopping = false;

  outer.all('/bot:token/getUpdates', async (req, res) => {
    const token = req.params.token;
    const params = Object.assign({}, req.query, req.body || {});
    const offset = Number(params.offset || 0);
    const timeout = Math.min(Number(params.timeout || 0), 50);
    const pick = () => {
      if (offset > 0) {
        server.storage.userMessages = server.storage.userMessages.filter(
          (u) => !(u.botToken === token && u.updateId < offset));
      }
      return server.storage.userMessages.filter((u) => u.botToken === token && u.updateId >= offset);
    };
    let found = pick();
    const deadline = Date.now() + timeout * 1000;
    while (found.length === 0 && Date.now() < deadline && !stopping && !res.socket.destroyed) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      found = pick();
    }
    res.json({ ok: true, result: found.map((u) => TelegramServer.formatUpdate(u)) });
  });

  outer.all('/bot:token/sendChatAction', (req, res) => {
    const chat = String((req.body || {}).chat_id);
    typing[chat] = (typing[chat] || 0) + 1;
    res.json({ ok: true, result: true });
  });

  outer.all('/bot:token/sendMessage', (req, res, next) => {
    const chat = String((req.body || {}).chat_id);
    const limit = limits[chat];
    if (limit && limit.count > 0) {
      limit.count -= 1;
      limited.push({ chat, at: Date.now() });
      res.status(429).json({ ok: false, error_code: 429,
        description: `Too Many Requests: retry after ${limit.retryAfter}`,
        parameters: { retry_after: limit.retryAfter } });
      return;
    }
    next();
  });

  outer.all('/bot:token/editMessageText', (req, res) => {
    const token = req.params.token;
    const body = Object.assign({}, req.query, req.body || {});
    const chat = String(body.chat_id);
    const id = Number(body.message_id);
    const refuse = (description) => {
      res.status(400).json({ ok: false, error_code: 400, description: `Bad Request: ${description}` });
    };
    const mine = server.storage.botMessages.find(
      (u) => u.botToken === token && Number(u.messageId) === id && String(u.message.chat_id) === chat);
    if (!mine) {
      edits.refused += 1;
      const theirs = server.storage.userMessages.some(
        (u) => u.botToken === token && Number(u.messageId) === id && String(u.message.chat.id) === chat);
      refuse(theirs ? "message can't be edited" : 'message to edit not found');
      return;
    }
    if (mine.message.text === body.text && (mine.message.parse_mode || '') === (body.parse_mode || '')) {
      edits.notModified += 1;
      refuse('message is not modified: specified new message content and reply markup of the specified message '
        + 'are exactly the same as a current content and reply markup of the message');
      return;
    }
    edits.modified += 1;
    mine.message = Object.assign({}, mine.message, { text: body.text, parse_mode: body.parse_mode });
    res.json({ ok: true, result: { message_id: id, date: Math.floor(mine.time / 1000),
      edit_date: Math.floor(Date.now() / 1000), chat: { id: Number(chat), type: 'private' }, text: body.text } });
  });

  outer.post('/_test/ratelimit', (req, res) => {
    limits[String(req.body.chatId)] = { count: Number(req.body.count || 1), retryAfter: Number(req.body.retryAfter || 1) };
    res.json({ ok: true });
  });
  outer.get('/_test/state', (_req, res) => res.json({ ok: true, typing, limited, edits }));

  outer.use(inner);
  server.webServer = outer;
  await server.start();
  console.log(`ready ${server.server.address().port}`);
  const stop = async () => { stopping = true; await server.stop(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
})().catch((error) => { console.error(error); process.exit(1); });
