import { describe, expect, it } from '@jest/globals';
import { ReplyError } from 'ioredis';
import { configProblem, errorKind } from '../../lib/redis/redis-errors.js';

/** An error reply as ioredis reports one. */
const reply = (message: string): Error => new (ReplyError as new (m: string) => Error)(message);

describe('what a Redis error says about Redis', () => {
  it.each([
    ['NOPERM this user has no permissions to access one of the keys used as arguments', 'NOPERM'],
    ["NOPERM this user has no permissions to run the 'evalsha' command", 'NOPERM'],
    ['NOSCRIPT No matching script. Please use EVAL.', 'NOSCRIPT'],
    ["ERR unknown command 'evalsha', with args beginning with: ", 'unknown command'],
    ['NOAUTH Authentication required.', 'NOAUTH'],
    ['WRONGPASS invalid username-password pair or user is disabled.', 'NOAUTH'],
    ["READONLY You can't write against a read only replica.", 'READONLY'],
    [
      'MISCONF Redis is configured to save RDB snapshots, but it is currently not able to persist on disk.',
      'MISCONF',
    ],
    ["CROSSSLOT Keys in request don't hash to the same slot", 'CROSSSLOT'],
  ])('a refusal an operator must fix: %s', (message, code) => {
    expect(errorKind(reply(message))).toBe('config');
    expect(configProblem(reply(message))).toMatchObject({ code, fix: expect.any(String) });
  });

  it('an answer about the data, and everything else an outage', () => {
    expect(
      errorKind(reply('WRONGTYPE Operation against a key holding the wrong kind of value')),
    ).toBe('data');
    expect(errorKind(reply('LOADING Redis is loading the dataset in memory'))).toBe('outage');
    expect(errorKind(reply("OOM command not allowed when used memory > 'maxmemory'."))).toBe(
      'outage',
    );
    expect(errorKind(new Error('Command timed out'))).toBe('outage');
    // Only an error reply counts: a message that merely starts like one is not Redis refusing.
    expect(errorKind(new Error('NOPERM made up'))).toBe('outage');
  });
});
