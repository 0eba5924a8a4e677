import { z } from 'zod';

/** A zod string checked by a problem function (`@vigil/protocol`'s name rules): one issue, its message. */
export const checkedBy = (problem: (value: string) => string | undefined) =>
  z.string().superRefine((value, ctx) => {
    const message = problem(value);
    if (message !== undefined) ctx.addIssue({ code: 'custom', message });
  });
