import { UseGuards } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway, type OnGatewayInit } from '@nestjs/websockets';
import { CurrentUser, JwksAuthGuard, JwksWsHandshake, Scopes } from 'nestjs-jwks-auth';

/** The README's socket.io gateway: clients without a valid token are refused at connect. */
@WebSocketGateway()
@UseGuards(JwksAuthGuard)
export class ChatGateway implements OnGatewayInit {
  constructor(private readonly jwksHandshake: JwksWsHandshake) {}

  afterInit(server: unknown): void {
    this.jwksHandshake.attach(server);
  }

  @Scopes('chat:write')
  @SubscribeMessage('whoami')
  whoami(@CurrentUser('sub') sub: string): { event: string; data: string } {
    return { event: 'me', data: sub };
  }
}
