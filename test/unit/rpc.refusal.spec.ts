import { BadRequestException, ForbiddenException, IntrinsicException, ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { JwksRpcQuietRefusal, KeySetUnavailableError } from '../../lib';
import { microservicesPeer } from '../../lib/transports/microservices.peer';
import { rpcRefusal } from '../../lib/transports/rpc.refusal';

describe('microservice refusals', () => {
  beforeAll(() => microservicesPeer.preload());
  const peer = () => microservicesPeer.get()!;

  it("are the app's own RpcException, whose error is the body the client's send() errors with", () => {
    const thrown = rpcRefusal(new UnauthorizedException(), null, false, peer());
    expect(thrown).toBeInstanceOf(RpcException);
    expect((thrown as RpcException).getError()).toEqual({ status: 'error', message: 'Unauthorized', code: 'UNAUTHENTICATED' });
    expect((rpcRefusal(new ForbiddenException(), null, false, peer()) as RpcException).getError()).toEqual({ status: 'error', message: 'Forbidden', code: 'FORBIDDEN' });
  });

  it('carry retryAfter in seconds on SERVICE_UNAVAILABLE when no key set is held', () => {
    const body = (rpcRefusal(new ServiceUnavailableException(), new KeySetUnavailableError('down', 12_300), false, peer()) as RpcException).getError();
    expect(body).toEqual({ status: 'error', message: 'Service Unavailable', code: 'SERVICE_UNAVAILABLE', retryAfter: 13 });
    expect((rpcRefusal(new ServiceUnavailableException(), null, false, peer()) as RpcException).getError()).toEqual({ status: 'error', message: 'Service Unavailable', code: 'SERVICE_UNAVAILABLE' });
  });

  it('are quiet for events and when @nestjs/microservices is not loaded: an IntrinsicException, never an RpcException', () => {
    for (const thrown of [rpcRefusal(new UnauthorizedException(), null, true, peer()), rpcRefusal(new UnauthorizedException(), null, false, undefined)]) {
      expect(thrown).toBeInstanceOf(JwksRpcQuietRefusal);
      expect(thrown).toBeInstanceOf(IntrinsicException);
      expect(thrown).not.toBeInstanceOf(RpcException);
      expect((thrown as JwksRpcQuietRefusal).body).toEqual({ status: 'error', message: 'Unauthorized', code: 'UNAUTHENTICATED' });
    }
  });

  it("leave what is not one of ours alone (a subclass's own error, another status)", () => {
    const own = new Error('mine');
    expect(rpcRefusal(own, null, false, peer())).toBe(own);
    const other = new BadRequestException();
    expect(rpcRefusal(other, null, false, peer())).toBe(other);
  });
});
