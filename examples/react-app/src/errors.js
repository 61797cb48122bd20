import { CombinedGraphQLErrors } from '@apollo/client/errors';

/** A person-readable message and the contract's code for an Apollo error. */
export function describe(error) {
  if (!error) return null;
  if (CombinedGraphQLErrors.is(error)) {
    const e = error.errors[0] || {};
    const ext = e.extensions || {};
    let message = e.message;
    if (ext.policy) message += ` (${ext.policy})`;
    return { code: ext.code, reason: ext.reason, message };
  }
  return { code: 'NETWORK', message: error.message };
}
