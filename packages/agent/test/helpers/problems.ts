/** An error that lists what was wrong (ConfigError, DefinitionError). */
type ProblemsError = Error & { readonly problems: readonly string[] };

/** The problems `fn` was refused with; it must throw a `type`, not return or throw another. */
export function problemsOf(type: abstract new (...args: never[]) => ProblemsError, fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof type) return [...err.problems];
    throw err;
  }
  throw new Error(`expected a ${type.name}`);
}
