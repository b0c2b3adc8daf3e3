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

  /** Kubernetes readiness: 503 until the first key set is held, then 200 (an expired set still counts). */
  @Public()
  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.jwks.isReady()]);
  }

  /** Kubernetes liveness: 200 while the module runs; never asks the IdP or Redis, so an IdP outage restarts nothing. */
  @Public()
  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([() => this.jwks.isAlive()]);
  }
}
