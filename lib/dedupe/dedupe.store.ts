// STUB: replaced by the @Dedupe implementation (issue 3).
export abstract class DedupeStore {}
