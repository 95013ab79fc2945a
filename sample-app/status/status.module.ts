import { Module } from '@nestjs/common';
import { ChatModule } from '../chat/chat.module.js';
import { OrchestratorStats } from './orchestrator-stats.js';
import { StatusController } from './status.controller.js';

@Module({
  imports: [ChatModule],
  controllers: [StatusController],
  providers: [OrchestratorStats],
})
export class StatusModule {}
