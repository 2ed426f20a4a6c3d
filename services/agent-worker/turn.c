/* The provider thread of a session: STT → LLM → TTS (or one TTS phrase) per
 * job, in order, handing each synthesised sentence back as soon as it is
 * ready. Jobs of an older session generation (the caller barged in, the call
 * went on hold) are skipped. The recogniser loads on a helper thread at start
 * so that the greeting is not held up by it.
 * Threads: turn_new/turn_* calls and turn_free come from the session
 * thread; the jobs travel on an mqueue to the provider thread (turn_thread),
 * which owns the providers and the history. */
#include "agent.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define JOBS_MAX    64
#define HISTORY_MAX 40

enum job_kind { JOB_TRANSCRIBE, JOB_REPLY, JOB_SAY, JOB_GENERATE };

struct job {
	enum job_kind kind;
	uint64_t gen;
	enum say_purpose purpose;
	char *text;
	int16_t *pcm;
	size_t npcm;
	int64_t started_at;
};

struct hist {
	char role[16];
	char *text;
};

struct turn {
	pthread_t thread, stt_loader;
	bool stt_loader_joined;
	struct mqueue *jobs;      /* struct job, session thread → provider thread */
	atomic_bool stop;

	const struct agent_opts *opts;
	const struct assistant *a;
	const _Atomic uint64_t *gen;
	turn_out_h *h;
	void *arg;

	const struct stt_provider *stt;
	const struct llm_provider *llm;
	const struct tts_provider *tts;
	void *stt_ctx, *llm_ctx;
	_Atomic(void *) tts_ctx; /* set by the turn thread; turn_free() interrupts through it */
	int stt_err;

	struct hist hist[HISTORY_MAX];
	int nhist;
};

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->text);
	free(j->pcm);
	free(j);
}

static void job_free_item(void *item)
{
	job_free(item);
}

static bool stale(struct turn *t, uint64_t gen)
{
	return gen != atomic_load(t->gen);
}

static void emit(struct turn *t, int kind, uint64_t gen, enum say_purpose purpose, char *text,
		 int16_t *pcm, size_t n, int index, int64_t started_at)
{
	struct turn_out *o = calloc(1, sizeof(*o));
	if (!o) {
		free(text);
		free(pcm);
		return;
	}
	o->kind = kind;
	o->gen = gen;
	o->purpose = purpose;
	o->text = text;
	o->pcm = pcm;
	o->npcm = n;
	o->index = index;
	o->started_at = started_at;
	t->h(o, t->arg);
}

static void hist_add(struct turn *t, const char *role, const char *text)
{
	char *copy = strdup(text);
	if (!copy)
		return;
	int first = t->a->prompt[0] ? 1 : 0; /* the system prompt stays */
	if (t->nhist == HISTORY_MAX) {
		free(t->hist[first].text);
		memmove(&t->hist[first], &t->hist[first + 1],
			(size_t)(HISTORY_MAX - first - 1) * sizeof(t->hist[0]));
		t->nhist--;
	}
	memcpy(t->hist[t->nhist].role, role, strlen(role) + 1);
	t->hist[t->nhist].text = copy;
	t->nhist++;
}

/* Synthesises `text` and hands it on; false when the TTS failed. */
static bool speak(struct turn *t, uint64_t gen, enum say_purpose purpose, const char *text,
		  int index)
{
	int16_t *pcm = NULL;
	size_t n = 0;
	if (!t->tts_ctx)
		return false;
	int err = t->tts->synth(t->tts_ctx, &pcm, &n, text);
	if (err) {
		log_warn("tts_failed", "%s: %s", t->tts->name, cm_strerror(err));
		return false;
	}
	char *copy = strdup(text);
	emit(t, purpose == SAY_FILLER && index >= 0 ? TURN_FILLER : TURN_AUDIO, gen, purpose, copy,
	     pcm, n, index, 0);
	return true;
}

struct sentence_ctx {
	struct turn *t;
	uint64_t gen;
	enum say_purpose purpose;
	char reply[4096];
	size_t len;
};

static int on_sentence(const char *sentence, void *arg)
{
	struct sentence_ctx *c = arg;
	if (stale(c->t, c->gen))
		return 1;
	size_t n = strlen(sentence);
	if (c->len + n + 2 < sizeof(c->reply)) {
		if (c->len)
			c->reply[c->len++] = ' ';
		memcpy(c->reply + c->len, sentence, n + 1);
		c->len += n;
	}
	speak(c->t, c->gen, c->purpose, sentence, -1);
	return stale(c->t, c->gen) ? 1 : 0;
}

static void run_llm(struct turn *t, uint64_t gen, enum say_purpose purpose, const char *extra_role,
		    const char *extra)
{
	struct llm_msg msgs[HISTORY_MAX + 1];
	size_t n = 0;
	struct sentence_ctx *c = calloc(1, sizeof(*c));
	if (!c || !t->llm_ctx)
		goto out;
	c->t = t;
	c->gen = gen;
	c->purpose = purpose;
	for (int i = 0; i < t->nhist; i++)
		msgs[n++] = (struct llm_msg){ t->hist[i].role, t->hist[i].text };
	if (extra)
		msgs[n++] = (struct llm_msg){ extra_role, extra };
	int err = t->llm->reply(t->llm_ctx, msgs, n, on_sentence, c);
	if (err)
		log_warn("llm_failed", "%s: %s", t->llm->name, cm_strerror(err));
	if (c->len)
		hist_add(t, "assistant", c->reply);
out:
	free(c);
}

static void *stt_load(void *arg)
{
	struct turn *t = arg;
	struct provider_args pa = { t->a->stt_config, t->a, &t->opts->env };
	t->stt_err = t->stt ? t->stt->new(&t->stt_ctx, &pa) : EINVAL;
	if (t->stt_err)
		log_error("stt_open", "%s: %s", assistant_provider(t->a->stt_config),
			  cm_strerror(t->stt_err));
	return NULL;
}

static void run_job(struct turn *t, struct job *j)
{
	if (stale(t, j->gen))
		return;
	switch (j->kind) {
	case JOB_TRANSCRIBE: {
		if (!t->stt_loader_joined) {
			pthread_join(t->stt_loader, NULL);
			t->stt_loader_joined = true;
		}
		char *text = NULL;
		if (!t->stt_ctx)
			break;
		int err = t->stt->transcribe(t->stt_ctx, &text, j->pcm, j->npcm);
		if (err) {
			log_warn("stt_failed", "%s: %s", t->stt->name, cm_strerror(err));
			break;
		}
		log_debug("stt_result", "%s: %zu ms of speech → \"%s\"", t->stt->name,
			  j->npcm * 1000 / AGENT_RATE, text ? text : "");
		emit(t, TURN_TRANSCRIPT, j->gen, SAY_REPLY, text, NULL, 0, -1, j->started_at);
		break;
	}
	case JOB_REPLY:
		hist_add(t, "user", j->text);
		run_llm(t, j->gen, SAY_REPLY, NULL, NULL);
		break;
	case JOB_GENERATE:
		run_llm(t, j->gen, SAY_GREETING, "system", j->text);
		break;
	case JOB_SAY:
		if (speak(t, j->gen, j->purpose, j->text, -1) && j->purpose != SAY_FILLER)
			hist_add(t, "assistant", j->text);
		break;
	}
}

static void *turn_thread(void *arg)
{
	struct turn *t = arg;
	struct provider_args tts_args = { t->a->tts_config, t->a, &t->opts->env };
	struct provider_args llm_args = { t->a->llm_config, t->a, &t->opts->env };
	int err;
	void *tts_ctx = NULL;
	if (!t->tts || (err = t->tts->new(&tts_ctx, &tts_args))) {
		log_error("tts_open", "%s: unavailable", assistant_provider(t->a->tts_config));
		tts_ctx = NULL;
	}
	atomic_store(&t->tts_ctx, tts_ctx);
	if (!t->llm || (err = t->llm->new(&t->llm_ctx, &llm_args))) {
		log_error("llm_open", "%s: unavailable", assistant_provider(t->a->llm_config));
		t->llm_ctx = NULL;
	}
	if (t->a->prompt[0])
		hist_add(t, "system", t->a->prompt);
	if (t->a->fillers_enabled)
		for (int i = 0; i < t->a->nfillers; i++)
			speak(t, 0, SAY_FILLER, t->a->fillers[i], i);
	for (;;) {
		struct job *j = mqueue_wait(t->jobs, -1); /* NULL: closed and empty */
		if (!j || atomic_load(&t->stop)) {
			job_free(j);
			break;
		}
		run_job(t, j);
		emit(t, TURN_JOB_DONE, j->gen, j->purpose, NULL, NULL, 0, -1, 0);
		job_free(j);
	}
	return NULL;
}

/* EAGAIN when JOBS_MAX are waiting or the thread is stopping. */
static int enqueue(struct turn *t, struct job *j)
{
	if (atomic_load(&t->stop) || mqueue_push(t->jobs, j)) {
		job_free(j);
		return EAGAIN;
	}
	return 0;
}

static struct job *job_new(enum job_kind kind, uint64_t gen, enum say_purpose purpose,
			   const char *text)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->kind = kind;
	j->gen = gen;
	j->purpose = purpose;
	if (text && !(j->text = strdup(text))) {
		free(j);
		return NULL;
	}
	return j;
}

int turn_transcribe(struct turn *t, uint64_t gen, int16_t *pcm, size_t n, int64_t started_at)
{
	struct job *j = job_new(JOB_TRANSCRIBE, gen, SAY_NONE, NULL);
	if (!j) {
		free(pcm);
		return ENOMEM;
	}
	j->pcm = pcm;
	j->npcm = n;
	j->started_at = started_at;
	return enqueue(t, j);
}

int turn_reply(struct turn *t, uint64_t gen, const char *user_text)
{
	struct job *j = job_new(JOB_REPLY, gen, SAY_REPLY, user_text);
	return j ? enqueue(t, j) : ENOMEM;
}

int turn_say(struct turn *t, uint64_t gen, enum say_purpose purpose, const char *text)
{
	struct job *j = job_new(JOB_SAY, gen, purpose, text);
	return j ? enqueue(t, j) : ENOMEM;
}

int turn_generate(struct turn *t, uint64_t gen, const char *instruction)
{
	struct job *j = job_new(JOB_GENERATE, gen, SAY_GREETING, instruction);
	return j ? enqueue(t, j) : ENOMEM;
}

int turn_new(struct turn **tp, const struct agent_opts *opts, const struct assistant *a,
	       const _Atomic uint64_t *current_gen, turn_out_h *h, void *arg)
{
	struct turn *t = calloc(1, sizeof(*t));
	if (!t)
		return ENOMEM;
	int err = mqueue_new(&t->jobs, JOBS_MAX);
	if (err) {
		free(t);
		return err;
	}
	t->opts = opts;
	t->a = a;
	t->gen = current_gen;
	t->h = h;
	t->arg = arg;
	t->stt = provider_stt(assistant_provider(a->stt_config));
	t->llm = provider_llm(assistant_provider(a->llm_config));
	t->tts = provider_tts(assistant_provider(a->tts_config));
	err = pthread_create(&t->stt_loader, NULL, stt_load, t);
	if (err)
		goto fail;
	err = pthread_create(&t->thread, NULL, turn_thread, t);
	if (err) {
		pthread_join(t->stt_loader, NULL);
		if (t->stt_ctx)
			t->stt->free(t->stt_ctx);
		goto fail;
	}
	*tp = t;
	return 0;
fail:
	t->jobs = mqueue_free(t->jobs, NULL);
	free(t);
	return err;
}

struct turn *turn_free(struct turn *t)
{
	if (!t)
		return NULL;
	atomic_store(&t->stop, true);
	mqueue_close(t->jobs); /* wakes the thread; the job in progress finishes */
	void *tts_ctx = atomic_load(&t->tts_ctx);
	if (tts_ctx && t->tts->interrupt)
		t->tts->interrupt(tts_ctx); /* a sentence in synthesis is not waited for */
	pthread_join(t->thread, NULL);
	if (!t->stt_loader_joined)
		pthread_join(t->stt_loader, NULL);
	t->jobs = mqueue_free(t->jobs, job_free_item);
	if (t->stt_ctx)
		t->stt->free(t->stt_ctx);
	if (t->llm_ctx)
		t->llm->free(t->llm_ctx);
	if (t->tts_ctx)
		t->tts->free(t->tts_ctx);
	for (int i = 0; i < t->nhist; i++)
		free(t->hist[i].text);
	free(t);
	return NULL;
}
