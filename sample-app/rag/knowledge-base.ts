/** A tiny in-memory knowledge base the pipeline's retrieval stage searches. */
export interface Note {
  id: string;
  text: string;
}

export const NOTES: readonly Note[] = [
  {
    id: 'backpressure',
    text: 'Backpressure caps the calls in flight; past the capacity a call is shed with 429.',
  },
  {
    id: 'dedupe',
    text: 'Dedupe lets identical concurrent calls share one execution, so duplicates cost nothing.',
  },
  {
    id: 'circuit-breaker',
    text: 'A circuit breaker opens after consecutive failures and fails fast with 503 until a probe succeeds.',
  },
  {
    id: 'retry',
    text: 'Retry repeats transient failures with jittered exponential backoff and honours Retry-After.',
  },
  {
    id: 'pipeline',
    text: 'A pipeline runs named stages in order, each with its own policy, timed and abortable.',
  },
];

const words = (text: string) => new Set(text.toLowerCase().match(/[a-z0-9-]+/g) ?? []);

/** The notes sharing the most words with the question, best first (at most `limit`). */
export function searchNotes(question: string, limit = 2): Note[] {
  const asked = words(question);
  return NOTES.map((note) => ({
    note,
    score: [...words(`${note.id} ${note.text}`)].filter((w) => w.length > 3 && asked.has(w)).length,
  }))
    .filter((hit) => hit.score > 0)
    .sort((a, b) => b.score - a.score)
    .slice(0, limit)
    .map((hit) => hit.note);
}
