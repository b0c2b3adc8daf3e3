import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { JwksHealthIndicator, Public } from 'nestjs-jwks-auth';

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly jwks: JwksHealthIndicator,
  ) {}

  /** 200 while a usable key set is held; 503 with the last fetch error when none is. */
  @Public()
  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.jwks.isHealthy()]);
  }
}
