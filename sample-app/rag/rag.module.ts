import { Module } from '@nestjs/common';
import { ChatModule } from '../chat/chat.module.js';
import { RagController } from './rag.controller.js';
import { RagService } from './rag.service.js';

@Module({
  imports: [ChatModule],
  controllers: [RagController],
  providers: [RagService],
})
export class RagModule {}
