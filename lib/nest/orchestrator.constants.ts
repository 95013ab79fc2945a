/** Injection token of the raw module options (sync or from the async factory). */
export const ORCHESTRATOR_MODULE_OPTIONS = Symbol('ORCHESTRATOR_MODULE_OPTIONS');
/** Injection token of the validated options. */
export const ORCHESTRATOR_RESOLVED_OPTIONS = Symbol('ORCHESTRATOR_RESOLVED_OPTIONS');
/** Injection token of the application's clock. */
export const ORCHESTRATOR_CLOCK = Symbol('ORCHESTRATOR_CLOCK');
/** Injection token of the application's event bus (`orchestrator.events$`). */
export const ORCHESTRATOR_EVENTS = Symbol('ORCHESTRATOR_EVENTS');
