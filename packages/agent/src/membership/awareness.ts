/**
 * Lifeguard's local health multiplier (LHA-Probe): a saturating score that rises when this node
 * shows signs of being the slow one (missed nacks, refuting accusations, event-loop stalls) and
 * falls on each clean probe. Timeouts stretch by (score + 1), so a sick node accuses less.
 */
export class Awareness {
  private score = 0;
  private readonly max: number;

  constructor(maxMultiplier: number) {
    this.max = maxMultiplier;
  }

  apply(delta: number): void {
    this.score = Math.min(this.max - 1, Math.max(0, this.score + delta));
  }

  health(): number {
    return this.score;
  }

  scale(ms: number): number {
    return ms * (this.score + 1);
  }
}
