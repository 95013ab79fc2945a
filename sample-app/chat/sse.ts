import type { ServerResponse } from 'node:http';

/**
 * Sends `tokens` as server-sent events: `data: {"index":n,"token":"..."}` per token, then
 * `event: done`. The first token is awaited before anything is written, so a call refused
 * before it started (shed, open circuit, provider error) still reaches the exception filter
 * and becomes a proper 429/503/5xx. An error after the first token ends the stream with
 * `event: error`. When the client disconnects, the iterator is closed (`return()`), which
 * cancels the provider request and frees the backpressure slot.
 */
export async function sendTokenStream(
  res: ServerResponse,
  tokens: AsyncIterable<string>,
): Promise<void> {
  const iterator = tokens[Symbol.asyncIterator]();
  let result = await iterator.next();
  res.statusCode = 200;
  res.setHeader('content-type', 'text/event-stream; charset=utf-8');
  res.setHeader('cache-control', 'no-cache, no-transform');
  res.setHeader('connection', 'keep-alive');
  res.setHeader('x-accel-buffering', 'no');
  res.flushHeaders();

  let clientGone = false;
  const release = () => void Promise.resolve(iterator.return?.()).catch(() => undefined);
  res.once('close', () => {
    if (res.writableFinished) return;
    clientGone = true;
    release();
  });

  let index = 0;
  try {
    for (; !result.done; result = await iterator.next()) {
      if (clientGone) return;
      res.write(`data: ${JSON.stringify({ index, token: result.value })}\n\n`);
      index++;
    }
    if (!clientGone) res.end(`event: done\ndata: ${JSON.stringify({ tokens: index })}\n\n`);
  } catch (error) {
    if (clientGone) return;
    const message = error instanceof Error ? error.message : String(error);
    res.end(`event: error\ndata: ${JSON.stringify({ message, tokens: index })}\n\n`);
  }
}
