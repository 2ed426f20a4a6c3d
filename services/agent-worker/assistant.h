/*
 * assistant — the assistant snapshot carried by agents.dispatch
 * (proto/COMMANDS.md), parsed once into the values a session runs on.
 *
 * interaction_config fields (all optional; defaults in brackets):
 *   speaks_first bool [true]         deliver the start instruction on answer
 *   start_mode "literal"|"generate" ["literal"]  speak start_instruction as is,
 *                                    or send it through the LLM
 *   silence_timeout_s number [10]    caller silence before a reprompt (fractions allowed)
 *   max_reprompts int [2]            reprompts before the goodbye
 *   reprompt_message str ["Are you still there?"]
 *   goodbye_message str ["I have not heard from you, so I will end the call now. Goodbye."]
 *   fillers_enabled bool [true], filler_after_ms int [1200],
 *   fillers [str] ["One moment.", "Let me check.", "Just a second."]
 *   barge_in_min_ms int [400]        caller speech that stops the agent
 *   end_of_speech_ms int [600]       silence that ends a caller turn
 *   vad_threshold int [500]          frame RMS counted as speech
 *   end_call_phrases [str] []        caller phrases that end the call
 *   end_call_message str ["Thank you for calling. Goodbye."]
 *   max_duration_s number [3600]     then the end message and hangup
 *   recording bool [true], recording_wait_ms int [1500]  longest the greeting
 *                                    waits for the recording to start
 */
#ifndef AGENT_ASSISTANT_H
#define AGENT_ASSISTANT_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "core/core.h"

#define ASSISTANT_LIST_MAX 8

struct assistant {
	char *id, *name, *prompt, *start_instruction;
	bool realtime;           /* mode "realtime" */
	bool speaks_first, start_generate;
	int silence_timeout_ms, max_reprompts;
	char *reprompt_message, *goodbye_message;
	bool fillers_enabled;
	int filler_after_ms;
	char *fillers[ASSISTANT_LIST_MAX];
	int nfillers;
	int barge_in_min_ms, end_of_speech_ms, vad_threshold;
	char *end_call_phrases[ASSISTANT_LIST_MAX];
	int nend_call_phrases;
	char *end_call_message;
	int64_t max_duration_ms;
	bool recording;
	int recording_wait_ms;
	cJSON *stt_config, *llm_config, *tts_config; /* owned, always objects */
};

/* Parses the "assistant" object (borrowed). On error names the field in err
 * and returns EINVAL. Caller frees *ap with assistant_free(). */
int assistant_parse(struct assistant **ap, const cJSON *obj, char *err, size_t errlen) CM_MUST_USE;
/* NULL-safe; returns NULL. */
struct assistant *assistant_free(struct assistant *a);

/* The provider named by cfg.provider ("local" when absent). Borrowed. */
const char *assistant_provider(const cJSON *cfg);

#endif
