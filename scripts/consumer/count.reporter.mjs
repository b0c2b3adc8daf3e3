/**
 * A node:test reporter that writes the counts of Jest's `--json` report (`numPassedTests`,
 * `numFailedTests`, `numRuntimeErrorTestSuites`), so .ci/run adds Node's test runner's results to
 * its total the way it adds Jest's. A suite that fails by itself (a `before` hook threw, its body
 * threw) counts as a suite that did not run; one that fails through its tests is counted by them.
 */
export default async function* countReporter(source) {
  let passed = 0;
  let failed = 0;
  let suitesNotRun = 0;
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { details, skip, todo } = event.data;
    if (skip || todo) continue;
    if (details?.type === 'suite') {
      if (event.type === 'test:fail' && details.error?.failureType !== 'subtestsFailed') suitesNotRun += 1;
    } else if (event.type === 'test:pass') {
      passed += 1;
    } else {
      failed += 1;
    }
  }
  yield `${JSON.stringify({ numPassedTests: passed, numFailedTests: failed, numRuntimeErrorTestSuites: suitesNotRun })}\n`;
}
