import { Controller, Get, Header } from '@nestjs/common';
import { Public } from 'nestjs-jwks-auth';
import { register } from 'prom-client';

/**
 * Prometheus scrapes this: the module registers its `jwks_auth_*` metrics on prom-client's default
 * registry (`metrics: true`). Public here for the demo; behind your network policy in production.
 */
@Controller('metrics')
export class MetricsController {
  @Public()
  @Get()
  @Header('Content-Type', register.contentType)
  scrape(): Promise<string> {
    return register.metrics();
  }
}
