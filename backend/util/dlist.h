/*
 * dlist.h - an intrusive doubly linked list with a sentinel head, for the
 * recency orders of the caches (the most recent at the front, evicted
 * from the back).  A node not on a list has next == NULL, so unlinking
 * twice is harmless.  The caller locks.
 */
#ifndef OCB_DLIST_H
#define OCB_DLIST_H

#include <stddef.h>

struct ocb_dlist {
	struct ocb_dlist *prev, *next;
};

/* the struct of type holding node p as its member */
#define ocb_dlist_entry(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

static inline void ocb_dlist_init(struct ocb_dlist *head)
{
	head->prev = head->next = head;
}

static inline int ocb_dlist_linked(const struct ocb_dlist *n)
{
	return n->next != NULL;
}

static inline void ocb_dlist_unlink(struct ocb_dlist *n)
{
	if (n->next) {
		n->next->prev = n->prev;
		n->prev->next = n->next;
		n->next = n->prev = NULL;
	}
}

/* n (not on a list) between two neighbours */
static inline void ocb_dlist_insert(struct ocb_dlist *prev,
				    struct ocb_dlist *next, struct ocb_dlist *n)
{
	n->prev = prev;
	n->next = next;
	prev->next = n;
	next->prev = n;
}

/* n (not on a list) at the front: the most recent */
static inline void ocb_dlist_push_front(struct ocb_dlist *head,
					struct ocb_dlist *n)
{
	ocb_dlist_insert(head, head->next, n);
}

/* n (not on a list) at the back: the first evicted */
static inline void ocb_dlist_push_back(struct ocb_dlist *head,
				       struct ocb_dlist *n)
{
	ocb_dlist_insert(head->prev, head, n);
}

/* n (on the list or not) to the front: just used */
static inline void ocb_dlist_move_front(struct ocb_dlist *head,
					struct ocb_dlist *n)
{
	ocb_dlist_unlink(n);
	ocb_dlist_push_front(head, n);
}

#endif
