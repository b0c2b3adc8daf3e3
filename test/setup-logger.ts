import { Logger } from '@nestjs/common';

// Keep test output readable: the library logs every refused fetch and warm-up failure.
// Set JWKS_TEST_LOGS=1 to see them.
if (!process.env.JWKS_TEST_LOGS) Logger.overrideLogger(false);
