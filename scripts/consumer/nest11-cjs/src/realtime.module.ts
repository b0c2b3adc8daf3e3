import { Module } from '@nestjs/common';
import { ChatGateway } from './chat.gateway';
import { OrdersMessages } from './orders.messages';

/**
 * The WebSocket gateway and the TCP message handler. Kept out of AppModule so that the same
 * sources also build an app without @nestjs/websockets and @nestjs/microservices installed
 * (the consumer run deletes the realtime files there); it relies on JwksAuthModule being global.
 */
@Module({ providers: [ChatGateway], controllers: [OrdersMessages] })
export class RealtimeModule {}
