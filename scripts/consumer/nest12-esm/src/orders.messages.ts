import { Controller, UseGuards } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { CurrentUser, JwksAuthGuard, Scopes } from 'nestjs-jwks-auth';

/** The README's message handler, served over TCP beside the HTTP routes (a hybrid app). */
@Controller()
@UseGuards(JwksAuthGuard)
export class OrdersMessages {
  @Scopes('orders:read')
  @MessagePattern('orders.whoami')
  whoami(@CurrentUser('sub') userId: string): string {
    return userId;
  }
}
