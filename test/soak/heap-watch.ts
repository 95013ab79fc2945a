interface HeapSeries {
  startedAt: number;
  samples: { at: number; heapUsed: number }[];
}

export interface HeapVerdict {
  worker: number;
  baseline: number;
  end: number;
  growth: number;
}

/**
 * Each worker's heap (sampled after a full GC) after its warm-up against its last sample. Only
 * workers that lived at least `minObservedMs` past their warm-up are judged.
 */
export class HeapWatch {
  private readonly series = new Map<number, HeapSeries>();

  constructor(
    private readonly warmUpMs: number,
    private readonly minObservedMs: number,
  ) {}

  started(worker: number): void {
    this.series.set(worker, { startedAt: performance.now(), samples: [] });
  }

  sample(worker: number, heapUsed: number): void {
    this.series.get(worker)?.samples.push({ at: performance.now(), heapUsed });
  }

  verdicts(): HeapVerdict[] {
    const verdicts: HeapVerdict[] = [];
    for (const [worker, { startedAt, samples }] of this.series) {
      const warm = samples.filter((s) => s.at - startedAt >= this.warmUpMs);
      if (warm.length < 2 || warm.at(-1)!.at - warm[0].at < this.minObservedMs) continue;
      const baseline = warm[0].heapUsed;
      const end = warm.at(-1)!.heapUsed;
      verdicts.push({ worker, baseline, end, growth: end / baseline - 1 });
    }
    return verdicts;
  }
}
