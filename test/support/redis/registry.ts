export interface Stoppable {
  stop(): Promise<void>;
}

const live = new Set<Stoppable>();

export function track(resource: Stoppable): void {
  live.add(resource);
}

export function untrack(resource: Stoppable): void {
  live.delete(resource);
}

/** Stops every server and cluster started in this module registry (one Jest test file). */
export async function stopAllRedis(): Promise<void> {
  // Newest first: a cluster disconnects its clients before its nodes go away.
  await Promise.all([...live].reverse().map((resource) => resource.stop()));
}
