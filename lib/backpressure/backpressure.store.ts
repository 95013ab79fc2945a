// STUB: replaced by the @Backpressure implementation (issue 3).
export abstract class BackpressureStore {}
