import { describe, expect, it } from '@jest/globals';
import { OrchestratorError, isOrchestratorError } from '../core/orchestrator.error.js';
import { PipelineAbortedError, isPipelineAbortedError } from './pipeline-aborted.error.js';
import { PipelineStageError, isPipelineStageError } from './pipeline-stage.error.js';

/** What the same error looks like when thrown by another copy of the package. */
function fromOtherCopy(code: string): unknown {
  return Object.assign(new Error('elsewhere'), {
    code,
    [Symbol.for('nestjs-orchestrator.error')]: true,
  });
}

describe('PipelineStageError', () => {
  const cause = new Error('provider down');
  const error = new PipelineStageError('chat', 'infer', 2, cause);

  it('is an OrchestratorError carrying stage, index and cause', () => {
    expect(error).toBeInstanceOf(OrchestratorError);
    expect(isOrchestratorError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'PIPELINE_STAGE_FAILED', name: 'PipelineStageError' });
    expect(error).toMatchObject({ pipeline: 'chat', stage: 'infer', index: 2 });
    expect(error.cause).toBe(cause);
    expect(error.message).toBe('pipeline "chat" stage "infer" (#2) failed: provider down');
  });

  it('is recognised by its guard, also across package copies, and by no other guard', () => {
    expect(isPipelineStageError(error)).toBe(true);
    expect(isPipelineStageError(fromOtherCopy('PIPELINE_STAGE_FAILED'))).toBe(true);
    expect(isPipelineStageError(new Error('plain'))).toBe(false);
    expect(isPipelineAbortedError(error)).toBe(false);
  });

  it('describes a non-Error cause', () => {
    expect(new PipelineStageError('p', 's', 0, 'text').message).toBe(
      'pipeline "p" stage "s" (#0) failed: text',
    );
  });
});

describe('PipelineAbortedError', () => {
  const reason = new DOMException('pipeline "chat" timed out after 50 ms', 'TimeoutError');
  const error = new PipelineAbortedError('chat', 'infer', 1, reason);

  it('is an OrchestratorError carrying stage, index and reason', () => {
    expect(error).toBeInstanceOf(OrchestratorError);
    expect(error).toMatchObject({ code: 'PIPELINE_ABORTED', name: 'PipelineAbortedError' });
    expect(error).toMatchObject({ pipeline: 'chat', stage: 'infer', index: 1, reason });
    expect(error.message).toBe(
      'pipeline "chat" was aborted at stage "infer" (#1): pipeline "chat" timed out after 50 ms',
    );
  });

  it('is recognised by its guard, also across package copies, and by no other guard', () => {
    expect(isPipelineAbortedError(error)).toBe(true);
    expect(isPipelineAbortedError(fromOtherCopy('PIPELINE_ABORTED'))).toBe(true);
    expect(isPipelineAbortedError({ code: 'PIPELINE_ABORTED' })).toBe(false);
    expect(isPipelineStageError(error)).toBe(false);
  });
});
