const origin = performance.timeOrigin;

/** Milliseconds on a clock that never goes backwards (the pipeline's deadlines need that), close to wall time. */
export const clock = (): number => origin + performance.now();
